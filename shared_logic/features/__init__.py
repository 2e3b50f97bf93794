"""What the service does, one module per feature: each holds its rules, validation and
workflows, and the handlers the route table (`shared_logic.routes`) names."""
