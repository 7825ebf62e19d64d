"""Storage: SQLAlchemy Core tables, Alembic migrations and the repository functions.

db.py      make_engine(url), upgrade(engine), downgrade(engine, rev)
tables.py  the schema (one MetaData)
repo.py    every query, as functions taking a Connection (callers own transactions)
"""
