"""The dataset on disk, written and read in one place: rows, build.json, folder and WebDataset
shards, the checks of untrusted rows and members (`trust`), and `validate` (which nothing imports)."""
