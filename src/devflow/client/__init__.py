"""The `devflow` command line as an API client: login, list, deploy, roll back, follow logs."""
