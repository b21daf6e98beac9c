"""Entry point of the frozen bootstrap (``e-secure`` / ``e-secure.exe`` on the CD-ROM)."""

from esecure_onkey.boot import main

if __name__ == "__main__":
    main()
