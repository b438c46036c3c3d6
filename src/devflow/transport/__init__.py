"""The one way DevFlow Pro runs things on a machine: argument lists, never shell strings."""
