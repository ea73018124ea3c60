"""The one door every front end calls: the Gradio app and the CLI use these services for everything they do.

    services = Services.open(checkpoints, data_root=..., training=True)
    services.pixels       # Renderer: model cache, checks of outside values, images, strips, paths, /render
    services.directions   # DirectionStudio: feature directions, their judging, PCA naming, entanglement
    services.jobs         # JobManager: background training runs (None in audience mode)
    services.playground   # Session: a visitor's live 2-D runs
    services.inversion    # Inverter: a picture in, the z (class, codes) that draws it out
    services.compare      # Comparison: a GAN and a VAE of the same data, side by side (the Compare tab)
    services.translation  # Translation: pix2pix and CycleGAN translators, a picture in and out (Translate tab)
    services.text         # TextDesk: text-to-image models (AttnGAN), a sentence in, pictures and attention out
    explorer.services.evaluation   # evaluate() and inventory(): what `eval` and `models` print

No gradio here: each service returns pictures and tables or raises ExplorerError, which a front end words.
"""
from __future__ import annotations

from dataclasses import dataclass

from explorer.services.compare import Comparison
from explorer.services.directions import DirectionStudio
from explorer.services.inversion import Inverter
from explorer.services.jobs import JobManager
from explorer.services.pixels import Renderer
from explorer.services.playground import Session
from explorer.services.text import TextDesk
from explorer.services.translation import Translation


@dataclass
class Services:
    pixels: Renderer
    directions: DirectionStudio
    jobs: JobManager | None
    inversion: Inverter
    compare: Comparison
    translation: Translation
    text: TextDesk
    playground: type = Session   # one per visitor: services.playground(distribution, left, right, seed)

    @classmethod
    def open(cls, checkpoints=None, data_root=None, allowed_data=(), training: bool = True,
             allow_paths: bool = False) -> "Services":
        """Every service over one checkpoints folder. training=False: no job manager (audience mode).
        allow_paths: models may be named by folder (the CLI; never the web app)."""
        pixels = Renderer(checkpoints, allow_paths=allow_paths)
        root = pixels.models.root
        jobs = JobManager(root, data_root=data_root, allowed_roots=allowed_data,
                          on_saved=pixels.models.refresh) if training else None
        inverter = Inverter(pixels.models, root)
        return cls(pixels, DirectionStudio(pixels.models, root), jobs, inverter,
                   Comparison(pixels.models, root, data_root, inverter), Translation(root, allow_paths),
                   TextDesk(root, allow_paths))


__all__ = ["Comparison", "DirectionStudio", "Inverter", "JobManager", "Renderer", "Services", "Session",
           "TextDesk", "Translation"]
