class Router:
    def __init__(self, **kw: object) -> None:
        self.kw = kw
