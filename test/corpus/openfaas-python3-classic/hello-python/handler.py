import os

from .words import shout


def handle(req):
    """handle a request to the function
    Args:
        req (str): request body
    """
    path = os.getenv("Http_Path", "/")
    if path == "/shout":
        return shout(req) + " (" + path + ")"
    return "Hello! You said: " + req
