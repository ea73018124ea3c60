"""Quality measures: Frechet distance on classifier features, class agreement, attribute rates, mode coverage."""
