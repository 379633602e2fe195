"""Reports for supervisors: per day and queue, per day and agent, as JSON or CSV.

contacts.py turns timeline events into contacts (one per time a caller
queued), summary.py does the arithmetic (service level, ASA, AHT...),
csv_export.py writes rows for spreadsheets.
"""
