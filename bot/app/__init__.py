"""The running process: the Bot subclass (`bot`), the launcher, the `parla` command line,
`parla doctor` and logging set-up.

May import: every room, and discord."""
