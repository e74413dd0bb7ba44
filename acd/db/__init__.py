"""What must outlast Redis: call records, agent state history, callbacks, surveys, audit.

PostgreSQL in production, SQLite for the demo and single nodes, one SQLAlchemy
data layer for both (docs/records.md).
"""
