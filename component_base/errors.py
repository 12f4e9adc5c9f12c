"""Domain errors of the control layer; servicers map each to a gRPC status code."""


class DomainError(Exception):
    """Base: a request the domain refuses, with a message a person can act on."""


class InvalidArgument(DomainError):
    """Malformed input (bad address, weight, port...)."""


class NotFound(DomainError):
    """The request names something that does not exist."""


class AlreadyExists(DomainError):
    """The request would create something that exists already."""


class FailedPrecondition(DomainError):
    """The request is well formed but the system is not in a state to honour it."""


class Unavailable(DomainError):
    """Something the request needs (a registry, a daemon) cannot be reached now; retry later."""


class DataLoss(DomainError):
    """Content did not match its digest: it was discarded."""
