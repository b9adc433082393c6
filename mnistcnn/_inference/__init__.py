"""The inference stage: DigitClassifier, streaming over files, evaluation, results files."""
