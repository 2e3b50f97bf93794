"""Small, single-question experiments behind explanations in the lab's report and docs."""
