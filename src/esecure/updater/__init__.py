"""Signed updates (TUF): the publishing side and the client side. The only room that imports
tufup or tuf."""
