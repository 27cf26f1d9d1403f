"""Edits of parsed JSON (a tokenizer.json, say) for tests."""


def setter(path, value):
    """An edit that sets the value at ``path`` (a list of keys and indexes) and returns the data."""

    def edit(data):
        node = data
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
        return data

    return edit
