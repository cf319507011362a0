"""``python -m spanlink.receiver.cli``: the ``spanlink-receiver`` command."""

from spanlink.receiver.cli._main import main

raise SystemExit(main())
