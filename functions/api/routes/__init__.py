"""One Powertools Router per v1 resource."""
