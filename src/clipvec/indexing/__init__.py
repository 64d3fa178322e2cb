"""Sources -> vectors -> Milvus: the incremental, resumable import (local and Ray)."""
