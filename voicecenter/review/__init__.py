"""Quality review: redaction of what reviewers see, scorecards, the review timeline."""
