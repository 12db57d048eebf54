"""The queue domain: every change to queue, votes, jams, comments, airhorns and playback state.

Routes in api and web are thin: they call these functions with the identity from the session or
token, and map the domain errors of ``shared.queue.errors`` to HTTP in their own ``errors.py``.
Every change is one Lua script (``shared.queue.scripts``) that appends its event; a change to the
playing song is announced right after by ``shared.queue.now_playing``, which owns its view.
"""
