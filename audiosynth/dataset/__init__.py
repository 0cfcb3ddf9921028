"""The dataset on disk, written and read in one place: rows, build.json, folder and WebDataset
shards and the conversion between them (`convert`), exports to other toolkits, the checks of
untrusted rows and members (`trust`), and `validate` (which nothing here imports)."""
