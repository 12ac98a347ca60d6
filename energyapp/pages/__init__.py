"""Pages: each module builds components and registers its route. No SQL, no services here."""
