"""Andre's shared package: settings, Redis access, keys, logging and the queue domain."""
