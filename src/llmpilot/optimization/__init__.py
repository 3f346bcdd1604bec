"""Search pipeline configs on an eval set and pick the best with evidence."""
