"""What ``aidmp serve`` runs besides the API: jobs, schedules, the delivery outbox, and the
handshake file through which the CLI finds the server that owns a home."""
