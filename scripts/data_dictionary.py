"""Print the README's data dictionary from the schemas in textpipe.store.

    python scripts/data_dictionary.py > /tmp/dd.md   # then paste over the README section
"""

import pyarrow as pa

from textpipe.store import SCHEMAS


def _type(field: pa.Field) -> str:
    text = str(field.type).replace("timestamp[us, tz=UTC]", "timestamp (UTC)").replace("large_", "")
    return text + ("" if field.nullable else ", not null")


for name, schema in SCHEMAS.items():
    print(f"### `{name}`\n\n{schema.metadata[b'description'].decode()}\n")
    print("| column | type | meaning |\n|---|---|---|")
    for field in schema:
        print(f"| `{field.name}` | {_type(field)} | {field.metadata[b'description'].decode()} |")
    print()
