"""`python -m fmnist_desktop` starts the desktop app."""

from fmnist_desktop.app import main

if __name__ == "__main__":
    raise SystemExit(main())
