"""The running service: scheduler and jobs, the store worker, the status file, systemd.

`build_service` assembles what `envoylog run` runs; `collect` is the one path every
logging command (poll, run, demo) takes from a gateway to the database.
"""
