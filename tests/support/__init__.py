"""Shared test support: realistic event factories and in-memory fakes of the AWS clients."""
