class JobError(Exception):
    """A run cannot be created, started or changed as asked; str() is one line saying why and what to do."""
