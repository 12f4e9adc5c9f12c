"""A gRPC method handler rebuilt around its behaviour: what server interceptors that wrap every call share."""

from __future__ import annotations

from collections.abc import Callable

import grpc

# each kind of handler: its behaviour's attribute, whether the request and the response are
# streams, and grpc's maker of that kind
_KINDS = (("unary_unary", False, False, grpc.unary_unary_rpc_method_handler),
          ("unary_stream", False, True, grpc.unary_stream_rpc_method_handler),
          ("stream_unary", True, False, grpc.stream_unary_rpc_method_handler),
          ("stream_stream", True, True, grpc.stream_stream_rpc_method_handler))


def rewrapped(handler: grpc.RpcMethodHandler,
              wrap: Callable[[Callable, bool, bool], Callable]) -> grpc.RpcMethodHandler:
    """The handler with its behaviour replaced by wrap(behaviour, request_streams, response_streams),
    of the same kind and with the same (de)serialisers."""
    for attribute, request_streams, response_streams, make in _KINDS:
        behavior = getattr(handler, attribute)
        if behavior is not None:
            return make(wrap(behavior, request_streams, response_streams),
                        request_deserializer=handler.request_deserializer,
                        response_serializer=handler.response_serializer)
    return handler
