"""Search: from a plain-language query to time-stamped moments."""

from vidsearch.search.engine import Searcher, SearchResponse
from vidsearch.search.moments import Moment

__all__ = ["Moment", "SearchResponse", "Searcher"]
