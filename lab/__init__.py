"""The lab: Debian containers with systemd as PID 1, reached over SSH like real servers."""
