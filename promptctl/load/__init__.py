"""YAML to a Suite: project files loaded, validated and resolved into runnable cases."""
