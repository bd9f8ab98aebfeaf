# Fixtures live in small plugin modules so that each owns one kind of real dependency.
pytest_plugins = ["tests.fixtures.databases", "tests.fixtures.servers"]
