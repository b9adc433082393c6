"""The input stage: every form a picture arrives in, turned into what a network sees."""
