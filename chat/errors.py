"""Errors raised by the chat services, each with its protocol error code.

The websocket consumer turns them into ``error`` frames; the REST API into
4xx responses (docs/protocol.md, "Errors").
"""


class ChatError(Exception):
    code = "bad_frame"
    status = 400

    def __init__(self, detail=None):
        self.detail = detail or self.default_detail
        super().__init__(self.detail)

    default_detail = "The request is not valid."


class BadInput(ChatError):
    code = "bad_frame"
    default_detail = "A field is missing or has the wrong type."


class TooLong(ChatError):
    code = "too_long"
    default_detail = "The message body is longer than 4000 characters."


class NotMember(ChatError):
    """Also raised for rooms that do not exist, so nothing leaks."""

    code = "not_member"
    status = 404
    default_detail = "No such room, or you are not a member of it."


class NotFound(ChatError):
    code = "not_found"
    status = 404
    default_detail = "Not found."


class Muted(ChatError):
    code = "muted"
    status = 403
    default_detail = "A moderator has muted you in this room."


class Forbidden(ChatError):
    code = "forbidden"
    status = 403
    default_detail = "You may not do that."


class Conflict(ChatError):
    code = "conflict"
    status = 409
    default_detail = "That conflicts with the current state."
