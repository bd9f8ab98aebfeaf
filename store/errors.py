"""Errors the store raises; the API maps them to Keptn's status codes and messages."""


class StoreError(Exception):
    pass


class NotFoundError(StoreError):
    def __init__(self, entity: str, name: str) -> None:
        super().__init__(f"{entity} {name} not found")
        self.entity = entity
        self.name = name


class AlreadyExistsError(StoreError):
    def __init__(self, entity: str, name: str) -> None:
        super().__init__(f"{entity} {name} already exists")
        self.entity = entity
        self.name = name
