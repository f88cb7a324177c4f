"""Server-side 1:N identification: per-site galleries and the decision with step-up."""
