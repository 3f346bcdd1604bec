"""Eval-set importers: llmpilot folders, BEIR folders, AutoRAG parquet, CSV/XLSX question-answer
sheets, converted into the canonical dataset folder with every bad row reported."""

from llmpilot.evaluation.importers.importer import (
    FORMATS,
    REPORT_FILE,
    as_dataset_folder,
    detect_format,
    import_dataset,
)
from llmpilot.evaluation.importers.model import DatasetImportError, ImportReport, Problem, Where

__all__ = [
    "FORMATS",
    "REPORT_FILE",
    "DatasetImportError",
    "ImportReport",
    "Problem",
    "Where",
    "as_dataset_folder",
    "detect_format",
    "import_dataset",
]
