"""The search page at ``/ui``: a small Starlette app mounted into the BentoML service.

* :mod:`.app`: the routes, static files and HTTP answers (caching, ETags, headers);
* :mod:`.files`: finding indexed files through the collection and their source, renditions;
* :mod:`.paths`: which paths a page URL may ask for at all.
"""

from clipvec.serving.web.app import attach, make_web_app, web_app
from clipvec.serving.web.paths import canonical_rel_path

__all__ = ["attach", "canonical_rel_path", "make_web_app", "web_app"]
