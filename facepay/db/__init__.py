"""Database plumbing: the declarative base, engines, migrations."""
