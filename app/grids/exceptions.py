from app.core.errors import DomainError, InvalidInput, NotFound


class OutsideServiceArea(DomainError):
    status = 422
    code = "outside-service-area"
    title = "Location is outside the service area"


class OfficeNotFound(NotFound):
    code = "office-not-found"
    title = "Grid office not found"


class BoundaryFileInvalid(InvalidInput):
    code = "boundary-file-invalid"
    title = "Boundary file is not usable"
