"""The player worker: the DJ clock that advances the queue and drives Spotify Connect."""
