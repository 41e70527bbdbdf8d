"""``python -m helgenom``."""

from helgenom.cli.main import main

if __name__ == "__main__":
    main()
