"""Page text as a user's pattern meets it and as a person sees it; pure, imports nothing of ours.

``patterns`` compiles the configuration's regexes for RE2 (linear time on any page);
``safe`` makes page text safe to show in Markdown, terminals and links.
"""
