from devflow.cli import main

main()
