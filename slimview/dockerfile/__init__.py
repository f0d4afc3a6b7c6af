"""Dockerfile instructions: one model for the history's steps and the user's Dockerfile.

Every stage that talks about instructions goes through this package, so a history line
reads the same in the layer table, in a finding's title and in the reconstructed
Dockerfile:

- ``instruction``: the ``Instruction`` type (keyword, RUN flags, arguments, comments,
  layer) and how it is written back;
- ``history``: a layer's ``created_by`` in every builder's dialect, as recorded (what
  findings inspect and people are shown) or as a Dockerfile writes it (what the rewrite
  rebuilds);
- ``values``: values as the builders print them (Go-formatted lists, maps, the
  HEALTHCHECK struct) and as a Dockerfile writes them (JSON arrays, quoted words);
- ``shell``: a RUN's shell script cut into commands, each classified (apt/apk installs
  and removals, pip installs, virtualenvs, ``chown -R``, users, cache cleanup);
- ``stages``: the user's own Dockerfile, read with dockerfile-parse into stages.
"""
