"""Errors a user can cause (config, data, paths): shown as one line by the CLI, exit code 2."""


class UserError(Exception):
    """A mistake in the user's config, data or paths. The message names what to fix."""
