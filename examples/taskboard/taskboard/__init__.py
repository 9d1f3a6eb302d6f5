"""The taskboard example service: projects and their tasks."""
